"""bulkorders: bulk order campaigns on SMM panels from spreadsheets."""

__version__ = "0.1.0"
