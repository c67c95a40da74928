"""The JSON shapes of `POST /api/v1/faces/compare`: one pydantic model per shape
(`server.api.shapes`). The multipart form (files) stays a schema dict in `api.py`: pydantic models
describe JSON, not uploads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask_babel import gettext
from pydantic import BeforeValidator, Field, WithJsonSchema

from server.api.shapes import RequestModel, ResponseModel
from server.db.types import INT_MAX
from server.school import fields


class DetectedFace(ResponseModel):
    box: list[float] = Field(description="[x1, y1, x2, y2] in image pixels.")
    score: float = Field(description="The detector's confidence.")
    landmarks: list[list[float]] = Field(description="Five points [x, y]: eyes, nose, mouth corners.")


class ComparedPicture(ResponseModel):
    filename: str
    width: int
    height: int
    faces: list[DetectedFace] = Field(description="In detection order.")


class FacePair(ResponseModel):
    source_face: int = Field(description="Index into source.faces.")
    target_face: int = Field(description="Index into target.faces.")
    similarity: float = Field(description="Cosine: -1 to 1, higher is closer.")
    same_person: bool = Field(description="The decision at `threshold`.")


class FaceComparison(ResponseModel):
    embedder: str
    metric: Literal["cosine", "euclidean"]
    threshold: float = Field(description="The embedder's 1:1 threshold (SFace: 0.43).")
    source: ComparedPicture
    target: ComparedPicture
    source_face: int = Field(description="The largest source face: the one compared.")
    pairs: list[FacePair] = Field(description="Every source face x target face.")
    face_matches: list[FacePair] = Field(description="Target faces that match it.")
    unmatched_faces: list[FacePair] = Field(description="Target faces that do not.")
    any_match: bool


def _photo_id(value: Any, info: Any) -> int:
    name = info.field_name
    try:
        return fields.integer(value, name, 1, INT_MAX)
    except fields.Invalid:
        side = name.removesuffix("_photo_id")
        message = gettext("'%(side)s_photo_id' must be the id of one of your album photos", side=side)
        raise ValueError(message) from None


PhotoId = Annotated[
    int,
    BeforeValidator(_photo_id),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": INT_MAX}),
]


class FaceCompareRequest(RequestModel):
    """Two of your album photos by id (JSON); to send image files, use multipart/form-data."""

    source_photo_id: PhotoId
    target_photo_id: PhotoId
