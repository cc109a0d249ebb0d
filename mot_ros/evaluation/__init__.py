"""Evaluation, ROS-free: MOTChallenge files and CLEAR-MOT / identity metrics.

``mot_io``   reading and writing MOT ground truth, detections and results
``metrics``  scoring with py-motmetrics under the MOTChallenge rules
"""
