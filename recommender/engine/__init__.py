"""NeuMF engine: pure NumPy / PyTorch, no Django. See docs/architecture.md."""
