"""Test kit for the registry and for plugin authors.

``contracts`` holds one pytest suite per port: subclass it, provide the adapter as a
fixture, and the adapter is checked exactly as the built-in ones are. ``memory`` holds
in-memory fakes of the ports for fast tests of code that uses them. Needs pytest.
"""
