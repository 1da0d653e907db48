"""The one version string: ``python -m bot --version``; pyproject.toml and CHANGELOG.md
repeat it, and a test (tests/test_project_files.py) holds them to it."""

__version__ = "1.0.0"
