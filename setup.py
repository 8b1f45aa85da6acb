"""Builds the optional C kernel (index/_kernels.c); everything else is declared in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and search.py scores windows with numpy."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("index._kernels", ["index/_kernels.c"], optional=True)])
