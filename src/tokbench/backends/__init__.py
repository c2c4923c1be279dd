"""Backends turn a wire protocol (or an in-process engine) into `Trace`s."""
