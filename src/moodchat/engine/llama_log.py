"""llama.cpp's native log, received once per process.

Contract: ``NativeLog.install(llama_cpp, verbose)`` returns the process's one receiver of
llama.cpp log lines: printed to stderr when verbose, else only error lines are kept (the
last eight, in ``errors``) so load failures can say why.
"""

from __future__ import annotations

import ctypes
import sys
from collections import deque


class NativeLog:
    """Receives llama.cpp's log lines: printed when verbose, else only errors are kept.

    llama.cpp's log callback is process-wide and is called from native code after the
    Python object that set it may be gone, so exactly one instance is installed for the
    life of the process (``NativeLog.install``) and never replaced.
    """

    _installed: NativeLog | None = None

    def __init__(self, llama_cpp) -> None:
        self.verbose = False
        self.errors: deque[str] = deque(maxlen=8)

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, _user_data) -> None:
            line = text.decode("utf-8", "replace")
            if self.verbose:
                sys.stderr.write(line)
            elif level == 4 and line.strip():  # GGML_LOG_LEVEL_ERROR
                self.errors.append(line.strip())

        self._callback = callback  # llama.cpp holds only the pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    @classmethod
    def install(cls, llama_cpp, verbose: bool) -> NativeLog:
        """The process's one log receiver, created on first use."""
        if cls._installed is None:
            cls._installed = cls(llama_cpp)
        cls._installed.verbose = verbose
        return cls._installed
