"""Native tests of the Python SDK: plain CPython, no WebAssembly."""
