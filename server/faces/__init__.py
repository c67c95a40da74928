"""Face analysis for the whole server: enrolment, the album (indexing and search), faces compare, the
unknown-face search and re-embedding all use these, so the models are loaded once per process.

    analyzer    the app's one FaceAnalyzer (detector + GALLERY_MODEL's embedder), built on first use
    model       which embedder the server embeds with (GALLERY_MODEL as an embedder id)
    images      pictures scaled down before detection; the small JPEG of an aligned face crop
    embeddings  float32 storage of embeddings and the student template (normalised mean)

What a face means for an area (an enrolment photo's verdict, an album face, a review crop) stays in
that area; this package knows only faces and vectors.
"""
