"""Engine version (semver). The major version gates model compatibility."""

__version__ = "0.1.0"
