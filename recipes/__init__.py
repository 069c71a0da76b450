"""Compression techniques, generic over model families (nothing here names a family)."""
