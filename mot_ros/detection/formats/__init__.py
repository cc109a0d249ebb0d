"""Model-format readers and converters, written by hand because no installable library
reads these formats without TensorFlow or Caffe (each module's docstring says why):

``tf_graphdef``   a TensorFlow GraphDef protobuf reader
``tf_to_onnx``    TF Object Detection API SSD graph -> ONNX for onnxruntime
``tf_text_graph`` the OpenCV text-graph config for such graphs
``caffe_ssd``     Caffe MobileNet-SSD prototxt + caffemodel -> ONNX/OpenCV
``tf_numpy``, ``ssd_reference``   float64 NumPy evaluation of a graph, the reference the
                  backends are tested against
"""
