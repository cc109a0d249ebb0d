"""ament_python build of mot_ros: installs the Python package, the ament index marker, and
launch/, config/ and models/ into share/mot_ros, with the executables in lib/mot_ros where
``ros2 run`` and launch_ros look for them."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mot_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models", glob("models/*.md") + glob("models/*.txt")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="mot_ros maintainers",
    maintainer_email="mot-ros@users.noreply.github.com",
    description="SSD MobileNet detection + dlib correlation tracking for ROS 2",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "mot_node = mot_ros.ros.node:main",
            "mot_lifecycle_node = mot_ros.ros.node:lifecycle_main",
            "video_publisher = mot_ros.ros.video_publisher:main",
            "track_recorder = mot_ros.ros.recorder:main",
        ],
    },
)
