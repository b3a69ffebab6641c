"""Names vulture reports as unused that a framework calls (``vulture`` reads this file too).

``tests/client/test_package_boundaries.py`` runs vulture over the repository with this list;
each entry says who uses the name.
"""

from loader_patches.soft_delete import duckdb_main
from tap_vtiger.client import PerParentStream, VtigerStream, _RunCounter, _RunTimer
from tap_vtiger.streams.related import RelatedStream
from tap_vtiger.tap import TapVtiger
from tap_vtiger.writer import FastSingerWriter
from target_vtiger.rejects import StreamSummary
from target_vtiger.sinks.base import RunSink
from target_vtiger.sinks.module import VtigerSink
from target_vtiger.target import TargetVtiger
from vtiger_sandbox.cli import _Server
from vtiger_singer.sdk import HookedStream

_Server.handle_exit  # uvicorn's signal handler calls it on SIGTERM/SIGINT  # noqa: B018
_Server.force_exit  # uvicorn reads it to stop without waiting for connections  # noqa: B018

# ------------------------------------------------------------------ singer-sdk calls these

_RunCounter.with_context  # the SDK's sync loop tags each counter with its context  # noqa: B018
_RunTimer.with_context  # the same for the sync timer  # noqa: B018
PerParentStream.state_partitioning_keys  # the SDK's state partitions  # noqa: B018
PerParentStream.parent_stream_type  # the SDK finds child streams by it  # noqa: B018
PerParentStream.get_record_counter  # the SDK's sync loop  # noqa: B018
PerParentStream.get_sync_timer  # the SDK's sync loop  # noqa: B018
PerParentStream.emit_activate_version_messages  # the SDK's full-table sync  # noqa: B018
RelatedStream.selected_by_default  # the SDK's catalog metadata  # noqa: B018
VtigerStream.TYPE_CONFORMANCE_LEVEL  # the SDK's record conformance  # noqa: B018
TapVtiger.message_writer_class  # the SDK builds the writer from it  # noqa: B018
TapVtiger.dynamic_catalog  # the SDK validates settings before discovery  # noqa: B018
TapVtiger.discover_streams  # the SDK's discovery  # noqa: B018
TapVtiger.cb_test  # the SDK's --test option  # noqa: B018
FastSingerWriter.write_message  # the SDK writes SCHEMA/STATE through it  # noqa: B018
StreamSummary.unchanged  # read by name through SUMMARY_FIELDS  # noqa: B018
RunSink.MAX_SIZE_DEFAULT  # the SDK's batch size  # noqa: B018
RunSink.include_sdc_metadata_properties  # the SDK's record metadata  # noqa: B018
RunSink.get_validator  # the SDK's record validation  # noqa: B018
RunSink.process_record  # the SDK hands each record to it  # noqa: B018
RunSink.process_batch  # the SDK drains a batch through it  # noqa: B018
VtigerSink.activate_version  # the SDK's ACTIVATE_VERSION handling  # noqa: B018
TargetVtiger.package_name  # the SDK's --about  # noqa: B018
TargetVtiger.default_sink_class  # the SDK's sink routing  # noqa: B018
TargetVtiger.message_reader_class  # the SDK builds the reader from it  # noqa: B018
TargetVtiger.capabilities  # the SDK's --about  # noqa: B018
TargetVtiger.max_parallelism  # the SDK's drain  # noqa: B018
TargetVtiger.get_sink_class  # the SDK's sink routing  # noqa: B018


HookedStream._input_schema  # the SDK's effective_schema reads it  # noqa: B018
HookedStream.state_manager.is_flushed  # the SDK's STATE writing reads it  # noqa: B018
HookedStream.__class__  # extend_command assigns a command's class  # noqa: B018
duckdb_main  # the target-duckdb-vtiger entry point (pyproject.toml)  # noqa: B018
