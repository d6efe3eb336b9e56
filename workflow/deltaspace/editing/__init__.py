"""Text-driven editing in S space: text directions, the relevance matrix R_s and its masks."""
