"""Multi-object tracking, ROS-free: detections in, tracks with stable ids out.

``tracker``      MultiObjectTracker (Kalman prediction, association, lazily started dlib
                 correlation trackers, re-identification) and TrackerConfig
``association``  IoU matrices and optimal assignment
``motion``       the constant-velocity box filter
``appearance``   colour-histogram descriptors
"""
