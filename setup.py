"""imgtf: autoregressive image models (Image Transformer, PixelRNN/PixelCNN) on TensorFlow 2 and Keras 3."""
from setuptools import find_packages, setup

setup(
    name="imgtf",
    version="0.1.0",
    description="Likelihood-based autoregressive image models (Image Transformer, PixelRNN/PixelCNN) "
                "with a Tensor2Tensor-style registry, on TensorFlow 2 and Keras 3.",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["imgtf", "imgtf.*"]),
    package_data={"imgtf.presets": ["builtin/*/*"]},  # the trained presets shipped with imgtf (data only)
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "tensorflow-datasets>=4.9",
        "absl-py",
        "numpy",
        "pillow",
        "tensorboard",  # TF 2.21 no longer installs it; tf.summary needs it
        "importlib_resources",  # tensorflow-datasets 4.9.10 needs it but does not declare it
    ],
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3.5"],
                    "hub": ["huggingface_hub", "kagglehub"]},  # hf:// and kaggle:// preset handles
    entry_points={"console_scripts": [
        "imgtf-trainer=imgtf.commands.trainer:run_main",
        "imgtf-datagen=imgtf.commands.datagen:run_main",
        "imgtf-decoder=imgtf.commands.decoder:run_main",
        "imgtf-exporter=imgtf.commands.exporter:run_main",
        "imgtf-average=imgtf.commands.average:run_main",
        "imgtf-compare=imgtf.commands.compare:run_main",
    ]},
)
