"""``/graphql``: GraphQL over HTTP with Apollo APQ, abuse limits and cacheable GETs.

Transport only: it parses the request, enforces the limits, runs the schema and shapes
the HTTP answer. What is cacheable:

* GET answers without errors: ``Cache-Control: public, max-age=GRAPHQL_GET_MAX_AGE,
  stale-while-revalidate=...`` and a strong ``ETag`` (``If-None-Match`` -> 304), so the
  edge and a CDN can serve the browse spike;
* everything else (POST, any answer with errors, PersistedQueryNotFound): ``no-store``.

Mutations are refused over GET (the schema has none today; the rule stays for when it has).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from graphene_django.views import GraphQLView
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLFormattedError,
    OperationType,
    ValidationRule,
    execute_sync,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)

from shared import jsonbounds
from shared.text import first_text_problem, text_problem

from . import errors, persisted
from .context import GraphQLContext
from .limits import Limits, check_limits
from .schema import schema

logger = logging.getLogger(__name__)

MAX_TOKENS = 5000


class _NoIntrospection(ValidationRule):
    def enter_field(self, node, *_args):
        if node.name.value in ("__schema", "__type"):
            self.report_error(
                GraphQLError(
                    "GraphQL introspection is disabled on this server",
                    node,
                    extensions={"code": errors.INTROSPECTION_DISABLED},
                )
            )


def _string_literal_rule(max_length: int) -> type[ValidationRule]:
    """Every string literal in the document is text a database can take (ADR 0069): a
    ``"\u0000"`` in ``product(slug: ...)`` is a 400, not PostgreSQL's 500."""

    class _StringLiterals(ValidationRule):
        def enter_string_value(self, node, *_args):
            problem = text_problem(node.value, where="query", max_length=max_length)
            if problem is not None:
                self.report_error(
                    GraphQLError(
                        problem.message,
                        node,
                        extensions={"code": errors.INVALID_STRING, "reason": problem.reason},
                    )
                )

    return _StringLiterals


@lru_cache(maxsize=256)
def _document(query: str, introspection: bool, max_string: int = 1024):
    """Parse and validate once per distinct query text and process (pure, no state)."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        exc.extensions = {"code": errors.GRAPHQL_PARSE_FAILED}
        return None, (exc,)
    except RecursionError:
        return None, (
            errors.graphql_error("the query is nested too deeply", errors.QUERY_TOO_DEEP),
        )
    rules = [*list(specified_rules), _string_literal_rule(max_string)]
    if not introspection:
        rules.append(_NoIntrospection)
    found = validate(schema.graphql_schema, document, rules)
    for error in found:
        if not error.extensions:
            error.extensions = {"code": errors.GRAPHQL_VALIDATION_FAILED}
    return document, tuple(found)


class LocalGraphiQLView(GraphQLView):
    """graphene-django's GraphiQL page with its assets served here, not from a CDN
    (catalog/graphiql.html; the files and versions: catalog/vendor/VENDOR.txt, ADR 0068)."""

    graphiql_template = "catalog/graphiql.html"


class _Reject(Exception):
    def __init__(self, status: int, error: GraphQLError):
        self.status = status
        self.error = error


def _format(error: GraphQLError) -> GraphQLFormattedError:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        code = getattr(original, "code", None)
        if code and hasattr(original, "message"):  # a CatalogError from a service
            out = error.formatted
            out["message"] = original.message
            out["extensions"] = {"code": code}
            return out
        logger.error("GraphQL resolver failed", exc_info=original)
        out = error.formatted
        out["message"] = "Internal server error"
        out["extensions"] = {"code": errors.INTERNAL_SERVER_ERROR}
        return out
    return error.formatted


def _json_param(raw, name: str):
    if raw in (None, ""):
        return None
    if isinstance(raw, dict):
        return raw
    try:
        value = jsonbounds.loads(raw, **jsonbounds.settings_bounds())
    except jsonbounds.JsonTooComplex as exc:
        raise _too_complex(exc) from None
    except (TypeError, ValueError):
        raise _Reject(
            400, errors.graphql_error(f"`{name}` is not valid JSON", errors.BAD_REQUEST)
        ) from None
    if value is not None and not isinstance(value, dict):
        raise _Reject(
            400, errors.graphql_error(f"`{name}` must be a JSON object", errors.BAD_REQUEST)
        )
    return value


def _too_complex(exc: jsonbounds.JsonTooComplex) -> _Reject:
    """A JSON body past the nesting or element bound: 400 / 413 with its own code."""
    return _Reject(exc.http_status, errors.graphql_error(exc.message, exc.code, limit=exc.limit))


@method_decorator(csrf_exempt, name="dispatch")
class CatalogGraphQLView(View):
    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            if request.method not in ("GET", "POST"):
                raise _Reject(
                    405,
                    errors.graphql_error(
                        "GraphQL is served over GET and POST only", errors.METHOD_NOT_ALLOWED
                    ),
                )
            if self._wants_graphiql(request):
                return LocalGraphiQLView.as_view(graphiql=True)(request)
            params = self._params(request)
            return self._run(request, *params)
        except _Reject as reject:
            response = self._answer(request, {"errors": [reject.error.formatted]}, reject.status)
            if reject.status == 405:
                response["Allow"] = "GET, POST"
            return response

    # --- request -------------------------------------------------------------------------
    @staticmethod
    def _wants_graphiql(request: HttpRequest) -> bool:
        if not (settings.GRAPHIQL and request.method == "GET"):
            return False
        if "query" in request.GET or "extensions" in request.GET or "raw" in request.GET:
            return False
        return GraphQLView.request_wants_html(request)

    @staticmethod
    def _too_large(size: int) -> _Reject:
        limit = settings.GRAPHQL_MAX_BODY_BYTES
        return _Reject(
            413,
            errors.graphql_error(
                f"the request is {size} bytes; at most {limit} allowed",
                errors.BODY_TOO_LARGE,
                limit=limit,
            ),
        )

    # The GET and POST (JSON or form) parameter rules of graphene-django, bounded, in one place.
    def _params(self, request: HttpRequest) -> tuple:  # noqa: C901
        limit = settings.GRAPHQL_MAX_BODY_BYTES
        data: Mapping[str, Any]
        if request.method == "GET":
            size = len(request.META.get("QUERY_STRING", ""))
            if size > limit:
                raise self._too_large(size)
            data = request.GET
        else:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise self._too_large(declared)
            try:
                body = request.body
            except RequestDataTooBig:
                raise self._too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) from None
            if len(body) > limit:
                raise self._too_large(len(body))
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    data = jsonbounds.loads(body, **jsonbounds.settings_bounds())
                except jsonbounds.JsonTooComplex as exc:
                    raise _too_complex(exc) from None
                except ValueError:
                    raise _Reject(
                        400, errors.graphql_error("the body is not valid JSON", errors.BAD_REQUEST)
                    ) from None
                if not isinstance(data, dict):
                    raise _Reject(
                        400,
                        errors.graphql_error(
                            "the body must be one JSON object (batching is off)",
                            errors.BAD_REQUEST,
                        ),
                    )
            elif content_type == "application/graphql":
                data = {"query": body.decode("utf-8", errors="replace")}
            else:
                raise _Reject(
                    415,
                    errors.graphql_error(
                        "send application/json (or application/graphql)",
                        errors.UNSUPPORTED_MEDIA_TYPE,
                    ),
                )
        query = data.get("query") or None
        if query is not None and not isinstance(query, str):
            raise _Reject(400, errors.graphql_error("`query` must be a string", errors.BAD_REQUEST))
        operation_name = data.get("operationName") or None
        if operation_name is not None and not isinstance(operation_name, str):
            raise _Reject(
                400, errors.graphql_error("`operationName` must be a string", errors.BAD_REQUEST)
            )
        variables = _json_param(data.get("variables"), "variables")
        extensions = _json_param(data.get("extensions"), "extensions")
        self._check_strings(query, operation_name, variables, extensions)
        return query, variables, operation_name, extensions

    @staticmethod
    def _check_strings(query, operation_name, variables, extensions) -> None:
        """No NUL, lone surrogate or over-long string anywhere in the request (ADR 0069):
        each would fail in PostgreSQL, Redis or a hash as a 500."""
        limit = settings.GRAPHQL_MAX_STRING_LENGTH
        problem = (
            first_text_problem(query, where="query")
            or first_text_problem(operation_name, where="operationName", max_length=limit)
            or first_text_problem(variables, where="variables", max_length=limit)
            or first_text_problem(extensions, where="extensions", max_length=limit)
        )
        if problem is not None:
            raise _Reject(
                400,
                errors.graphql_error(problem.message, errors.INVALID_STRING, reason=problem.reason),
            )

    def _persisted(self, query: str | None, extensions: dict | None) -> str:
        """The query text to run, resolving and registering APQ hashes."""
        apq = (extensions or {}).get("persistedQuery")
        if apq is None:
            if query is None:
                raise _Reject(
                    400, errors.graphql_error("Must provide query string.", errors.BAD_REQUEST)
                )
            return query
        if not isinstance(apq, dict) or apq.get("version") != persisted.APQ_VERSION:
            raise _Reject(
                400,
                errors.graphql_error(
                    "Unsupported persisted query version", errors.PERSISTED_QUERY_NOT_SUPPORTED
                ),
            )
        sha = apq.get("sha256Hash")
        if not persisted.is_valid_hash(sha):
            raise _Reject(
                400,
                errors.graphql_error(
                    "sha256Hash must be 64 lower-case hex digits", errors.BAD_REQUEST
                ),
            )
        if query is not None:
            if persisted.query_hash(query) != sha:
                raise _Reject(
                    400,
                    errors.graphql_error(
                        "provided sha does not match query", errors.PERSISTED_QUERY_HASH_MISMATCH
                    ),
                )
            persisted.persisted_query_register(sha256_hash=sha, query=query)
            return query
        stored = persisted.persisted_query_get(sha256_hash=sha)
        if stored is None:
            # Apollo's clients look for exactly this message and code, with a 200.
            raise _Reject(
                200,
                errors.graphql_error("PersistedQueryNotFound", errors.PERSISTED_QUERY_NOT_FOUND),
            )
        return stored

    # --- execution -----------------------------------------------------------------------
    def _run(self, request, query, variables, operation_name, extensions) -> HttpResponse:
        text = self._persisted(query, extensions)
        document, invalid = _document(
            text, settings.GRAPHQL_INTROSPECTION, settings.GRAPHQL_MAX_STRING_LENGTH
        )
        operation = get_operation_ast(document, operation_name) if document else None
        # Before validation: a mutation over GET is refused as such even where the schema
        # has no mutation type (a crawler or a cache must never trigger a write).
        if (
            request.method == "GET"
            and operation is not None
            and operation.operation != OperationType.QUERY
        ):
            raise _Reject(
                405,
                errors.graphql_error(
                    f"a {operation.operation.value} needs a POST request",
                    errors.METHOD_NOT_ALLOWED,
                ),
            )
        if invalid:
            return self._answer(request, {"errors": [e.formatted for e in invalid]}, 400)
        if operation is None:
            raise _Reject(
                400,
                errors.graphql_error(
                    "name the operation to run with `operationName`", errors.BAD_REQUEST
                ),
            )
        broken = check_limits(
            document=document,
            operation=operation,
            variables=variables,
            limits=Limits(
                max_depth=settings.GRAPHQL_MAX_DEPTH,
                max_cost=settings.GRAPHQL_MAX_COST,
                max_page_size=settings.GRAPHQL_MAX_PAGE_SIZE,
                max_aliases=settings.GRAPHQL_MAX_ALIASES,
            ),
        )
        if broken is not None:
            return self._answer(request, {"errors": [broken.formatted]}, 400)
        result: ExecutionResult = execute_sync(
            schema.graphql_schema,
            document,
            context_value=GraphQLContext(request=request),
            variable_values=variables,
            operation_name=operation_name,
        )
        payload: dict = {}
        status = 200
        if result.errors:
            payload["errors"] = [_format(e) for e in result.errors]
            if any(not e.path for e in result.errors):
                # bad variables: nothing ran
                for item in payload["errors"]:
                    item.setdefault("extensions", {"code": errors.BAD_USER_INPUT})
                return self._answer(request, payload, 400)
        payload["data"] = result.data
        return self._answer(request, payload, status, cacheable=not result.errors)

    # --- response ------------------------------------------------------------------------
    @staticmethod
    def _answer(request, payload: dict, status: int, cacheable: bool = False) -> HttpResponse:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        if not (cacheable and request.method == "GET" and status == 200):
            response = HttpResponse(body, status=status, content_type="application/json")
            response["Cache-Control"] = "no-store"
            return response
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        cache_control = (
            f"public, max-age={settings.GRAPHQL_GET_MAX_AGE}, "
            f"stale-while-revalidate={settings.GRAPHQL_GET_STALE_WHILE_REVALIDATE}"
        )
        candidates = [t.strip() for t in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]
        if etag in candidates or f"W/{etag}" in candidates or "*" in candidates:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(body, status=200, content_type="application/json")
        response["ETag"] = etag
        response["Cache-Control"] = cache_control
        return response
