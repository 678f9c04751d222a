"""The catalog: categories, merchants, products and SKUs, prices and currencies."""
