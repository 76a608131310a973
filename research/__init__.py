"""Research on the best method, outside the package: see README.md."""
