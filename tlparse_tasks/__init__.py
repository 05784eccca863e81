"""tlparse-tasks: TORCH_TRACE logs to a browsable report, as a doit build."""

__version__ = "0.1.0"
