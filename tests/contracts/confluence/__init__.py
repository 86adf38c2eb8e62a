"""Confluence API descriptions (see README.md) and the script that joins them."""
