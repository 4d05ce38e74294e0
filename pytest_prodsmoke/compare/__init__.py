"""Comparing two versions (pure, no pytest, no HTTP): answer diffs with noise learning
(``diff``) and canary statistics (``stats``, ``canary``)."""
