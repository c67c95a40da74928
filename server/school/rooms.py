"""Classrooms and the devices (ceiling cameras) installed in them. A device's classroom decides
which lecture its sightings belong to (`schedule.current_session_for_device`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy.orm import Session

from server.audit import record
from server.db.models import Classroom, Device, User
from server.school.errors import Invalid
from server.school.fields import device_id, optional_id, text
from server.school.unique import ensure_unique


def classroom(db: Session, value: Any, name: str = "classroom_id", required: bool = True) -> Classroom | None:
    room_id = optional_id(value, name)
    if room_id is None:
        if required:
            raise Invalid(gettext("'%(name)s' is required: the id of a classroom", name=name))
        return None
    room = db.get(Classroom, room_id)
    if room is None:
        raise Invalid(gettext("'%(name)s' %(id)s is not a classroom", name=name, id=room_id))
    return room


def _ensure_room_name_free(db: Session, name: str, room_id: int | None = None) -> None:
    ensure_unique(db, Classroom.name, name, f"a classroom named {name!r} already exists", room_id)


def create_classroom(db: Session, actor: User, body: Mapping[str, Any]) -> Classroom:
    name = text(body.get("name"), "name", 100)
    _ensure_room_name_free(db, name)
    room = Classroom(name=name)
    db.add(room)
    db.flush()
    record(db, actor, "classroom.create", "classroom", room.id, after={"name": name})
    return room


def update_classroom(db: Session, actor: User, room: Classroom, body: Mapping[str, Any]) -> Classroom:
    if "name" in body:
        name = text(body["name"], "name", 100)
        if name != room.name:
            _ensure_room_name_free(db, name, room.id)
            record(
                db,
                actor,
                "classroom.update",
                "classroom",
                room.id,
                before={"name": room.name},
                after={"name": name},
            )
            room.name = name
    return room


def device_state(device: Device) -> dict[str, Any]:
    return {"device_id": device.device_id, "name": device.name, "classroom_id": device.classroom_id}


def create_device(db: Session, actor: User, body: Mapping[str, Any]) -> Device:
    """Register a device by the id it publishes under; `name` defaults to that id."""
    ident = device_id(body.get("device_id"))
    name = text(body["name"], "name", 100) if body.get("name") not in (None, "") else ident
    room = classroom(db, body.get("classroom_id"), required=False)
    ensure_unique(db, Device.device_id, ident, f"a device with id {ident!r} is already registered")
    device = Device(device_id=ident, name=name, classroom=room)
    db.add(device)
    db.flush()
    record(db, actor, "device.create", "device", device.id, after=device_state(device))
    return device


def update_device(db: Session, actor: User, device: Device, body: Mapping[str, Any]) -> Device:
    """Rename a device or move it to another classroom (null: not installed anywhere). Its id is
    its identity on MQTT and does not change: register a new device instead."""
    before = device_state(device)
    if "device_id" in body and body["device_id"] != device.device_id:
        raise Invalid(
            "'device_id' cannot change (it is the device's identity on MQTT): register a new device"
        )
    if "name" in body:
        device.name = text(body["name"], "name", 100)
    if "classroom_id" in body:
        room = classroom(db, body["classroom_id"], required=False)
        device.classroom = room
        device.classroom_id = room.id if room is not None else None
    after = device_state(device)
    if after != before:
        record(db, actor, "device.update", "device", device.id, before=before, after=after)
    return device
