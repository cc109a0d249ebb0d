"""The real-time frame pipeline, without ROS: newest frame only, detection overlapped with
tracking on worker threads, adaptive detection interval, and the statistics /diagnostics
reports (:mod:`mot_ros.pipeline.worker`, :mod:`mot_ros.pipeline.scheduling`,
:mod:`mot_ros.pipeline.stats`)."""
