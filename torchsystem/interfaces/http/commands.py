"""``/commands``: what the server runs, and ``POST /commands/{name}`` to run it as a job.

Each command gets its own route, so its body is validated against the command's fields
(``422`` naming the field when wrong, unknown fields included) and documented at
``/docs``; the body is a JSON object of the command's fields (``{}`` takes every
default). The answer is ``202`` with the job's id and its ``Location``.
"""

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, create_model

from torchsystem.interfaces.application import Application, UnknownCommand
from torchsystem.interfaces.commands import CommandSpec
from torchsystem.interfaces.http.dependencies import ApplicationDep, JobsDep
from torchsystem.interfaces.http.models import Accepted, CommandOut, Problem
from torchsystem.interfaces.jobs import QueueFull

__all__ = ["body_model", "router"]

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def body_model(spec: CommandSpec) -> type[BaseModel]:
    """The pydantic model of ``spec``'s body: its fields, types and defaults, strict
    JSON types (``"5"`` is not an ``int``), no other field."""
    fields: dict[str, Any] = {}
    for field in spec.fields:
        default = ... if field.required else field.default
        fields[field.name] = (field.hint, Field(default, description=field.help or None))
    model: type[BaseModel] = create_model(
        spec.type.__name__, __config__=_STRICT, __doc__=spec.description or None, **fields)
    return model


def router(application: Application) -> APIRouter:
    """The commands router of ``application``: one ``POST`` route per command."""
    made = APIRouter(prefix="/commands", tags=["commands"])
    models = {name: body_model(spec) for name, spec in application.commands.items()}

    @made.get("", response_model=list[CommandOut], summary="The commands this server runs")
    def list_commands(app: ApplicationDep) -> list[dict[str, Any]]:
        return [{"name": name, "summary": spec.summary, "description": spec.description,
                 "body": models[name].model_json_schema()}
                for name, spec in app.commands.items()]

    for name, spec in application.commands.items():
        made.add_api_route(
            f"/{name}", _endpoint(spec, models[name]), methods=["POST"], status_code=202,
            response_model=Accepted, summary=spec.summary or f"Run {name}",
            description=spec.description, name=f"run {name}",
            responses={429: {"model": Problem}},
        )

    @made.post("/{name}", status_code=404, responses={404: {"model": Problem}},
               include_in_schema=False)
    def unknown_command(name: str, app: ApplicationDep) -> None:
        try:
            app.spec(name)
        except UnknownCommand as error:
            raise HTTPException(404, str(error)) from None
        raise HTTPException(404, f"command {name!r} was registered after the server started")

    return made


def _endpoint(spec: CommandSpec, model: type[BaseModel]) -> Any:
    def run_command(response: Response, body: Any, jobs: JobsDep) -> Accepted:
        arguments = body.model_dump()
        try:
            spec.build(arguments)  # the command's own checks (__post_init__)
        except (TypeError, ValueError) as error:
            raise RequestValidationError([{"type": "value_error", "loc": ("body",),
                                           "msg": str(error), "input": arguments}]) from None
        try:
            job = jobs.submit(spec.name, arguments)
        except QueueFull as full:
            raise HTTPException(429, str(full)) from None
        response.headers["Location"] = f"/jobs/{job.id}"
        return Accepted(id=job.id, command=job.command, status=job.status,
                        location=f"/jobs/{job.id}")

    signature = inspect.signature(run_command)
    parameters = [parameter.replace(annotation=Annotated[model, Body()])
                  if parameter.name == "body" else parameter
                  for parameter in signature.parameters.values()]
    run_command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run_command.__name__ = f"run_{spec.name.replace('-', '_')}"
    return run_command
