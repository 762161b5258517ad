"""The hostile-input suite uses the broker and process fixtures of the ``tests.fixtures`` plugin."""
