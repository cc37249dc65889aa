"""onboard: from "never used AWS Session Manager" to connected, in one sitting."""

__version__ = "0.1.0"
