"""Edit directions in S space from text: CLIP text directions, the relevance matrix R_s and its channel masks.

(The stages that edit images live in deltaspace.stages.editing; the methods in deltaspace.methods.)
"""
