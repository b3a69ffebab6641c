{#- Reading the tables tap-vtiger loads, whichever loader wrote them.

    The loaders name columns differently (target-duckdb lower-cases `txtAdjustment`, a
    singer-sdk target may write `txt_adjustment`), and a module that was not extracted has no
    table at all. So each staging model first reads the columns its table really has
    (vtiger_columns), then every column macro below yields a typed NULL for a field the table
    lacks: every staging model builds on every warehouse, empty when its module is not loaded. -#}

{% macro vtiger_column_key(name) -%}
  {{ return(modules.re.sub('[^a-z0-9]', '', name | lower)) }}
{%- endmacro %}

{% macro vtiger_columns(table) -%}
  {#- column key -> Column of the loaded table; {} when the table does not exist -#}
  {%- set relation = source('vtiger', table) -%}
  {%- if not execute -%}{{ return({}) }}{%- endif -%}
  {%- set existing = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
  {%- if existing is none -%}{{ return({}) }}{%- endif -%}
  {%- set found = {} -%}
  {%- for column in adapter.get_columns_in_relation(existing) -%}
    {%- do found.update({vtiger_column_key(column.name): column}) -%}
  {%- endfor -%}
  {{ return(found) }}
{%- endmacro %}

{% macro vtiger_from(table, cols) -%}
  {#- the loaded table, or a relation without rows when the module was not loaded -#}
  {%- set relation = source('vtiger', table) -%}
  {%- if cols -%}{{ relation }}{%- else -%}(select 1 as no_table where 1 = 0) as not_loaded{%- endif -%}
{%- endmacro %}

{% macro vt_column(cols, name) -%}
  {%- set key = vtiger_column_key(name) -%}
  {%- if key in cols -%}{{ adapter.quote(cols[key].name) }}{%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro vt_text(cols, name) -%}
  nullif(cast({{ vt_column(cols, name) }} as {{ dbt.type_string() }}), '')
{%- endmacro %}

{% macro vt_key(cols, name, prefixes) -%}
  {#- a reference ("11x42") kept only when it points into the given module(s) by id prefix;
      empty and "0" references become NULL -#}
  case when split_part({{ vt_text(cols, name) }}, 'x', 1) in ('{{ prefixes | join("', '") }}')
    then {{ vt_text(cols, name) }} end
{%- endmacro %}

{% macro vt_integer(cols, name) -%}
  cast({{ vt_column(cols, name) }} as bigint)
{%- endmacro %}

{% macro vt_numeric(cols, name) -%}
  cast({{ vt_column(cols, name) }} as {{ vtiger_type_numeric() }})
{%- endmacro %}

{% macro vtiger_type_numeric() -%}numeric(38, 8){%- endmacro %}

{% macro vt_boolean(cols, name) -%}
  cast({{ vt_column(cols, name) }} as boolean)
{%- endmacro %}

{#- The macros below differ by warehouse: target-duckdb 0.8 stores dates as text, date-times
    as TIMESTAMP (UTC), multi-select picklists as JSON text and _sdc_deleted_at as ISO text;
    target-postgres stores date, timestamptz, text[] and timestamptz. -#}

{% macro vt_date(cols, name) -%}
  {{ return(adapter.dispatch('vt_date', 'vtiger')(cols, name)) }}
{%- endmacro %}
{% macro default__vt_date(cols, name) -%}
  cast({{ vt_column(cols, name) }} as date)
{%- endmacro %}
{% macro duckdb__vt_date(cols, name) -%}
  try_cast(nullif(cast({{ vt_column(cols, name) }} as varchar), '') as date)
{%- endmacro %}

{% macro vt_timestamp(cols, name) -%}
  {{ return(adapter.dispatch('vt_timestamp', 'vtiger')(cols, name)) }}
{%- endmacro %}
{% macro default__vt_timestamp(cols, name) -%}
  cast({{ vt_column(cols, name) }} as timestamptz)
{%- endmacro %}
{% macro duckdb__vt_timestamp(cols, name) -%}
  cast({{ vt_column(cols, name) }} as timestamp)
{%- endmacro %}

{% macro vt_time(cols, name) -%}
  {{ return(adapter.dispatch('vt_time', 'vtiger')(cols, name)) }}
{%- endmacro %}
{% macro default__vt_time(cols, name) -%}
  cast(nullif(cast({{ vt_column(cols, name) }} as varchar), '') as time)
{%- endmacro %}
{% macro duckdb__vt_time(cols, name) -%}
  try_cast(nullif(cast({{ vt_column(cols, name) }} as varchar), '') as time)
{%- endmacro %}

{% macro vt_multipicklist(cols, name) -%}
  {{ return(adapter.dispatch('vt_multipicklist', 'vtiger')(cols, name)) }}
{%- endmacro %}
{#- no value (an empty array as loaded) is NULL, as for every other field -#}
{% macro default__vt_multipicklist(cols, name) -%}
  case when cardinality(cast({{ vt_column(cols, name) }} as text[])) > 0
    then cast({{ vt_column(cols, name) }} as text[]) end
{%- endmacro %}
{% macro duckdb__vt_multipicklist(cols, name) -%}
  case when len(cast(cast({{ vt_column(cols, name) }} as json) as varchar[])) > 0
    then cast(cast({{ vt_column(cols, name) }} as json) as varchar[]) end
{%- endmacro %}

{% macro vt_deleted_at(cols) -%}
  {{ return(adapter.dispatch('vt_deleted_at', 'vtiger')(cols)) }}
{%- endmacro %}
{% macro default__vt_deleted_at(cols) -%}
  cast({{ vt_column(cols, '_sdc_deleted_at') }} as timestamptz)
{%- endmacro %}
{% macro duckdb__vt_deleted_at(cols) -%}
  {#- ISO text in UTC ('2026-01-01T10:00:00+00:00'), as a TIMESTAMP like the other date-times -#}
  try_cast(replace(left(cast({{ vt_column(cols, '_sdc_deleted_at') }} as varchar), 19), 'T', ' ') as timestamp)
{%- endmacro %}

{% macro vt_custom_fields(cols, known) -%}
  {#- custom fields (cf_*) the describes in schemas/ do not know, as loaded; multi-select
      picklists (JSON on DuckDB) as arrays -#}
  {%- set known_keys = [] -%}
  {%- for name in known -%}{%- do known_keys.append(vtiger_column_key(name)) -%}{%- endfor -%}
  {%- for key, column in cols.items() | sort -%}
    {%- if (column.name | lower).startswith('cf_') and key not in known_keys -%}
      {%- if (column.dtype | upper) in ('JSON', 'ARRAY') or (column.dtype | upper).endswith('[]') %},
    {{ vt_multipicklist(cols, column.name) }} as {{ adapter.quote(column.name | lower) }}
      {%- else %},
    {{ adapter.quote(column.name) }} as {{ adapter.quote(column.name | lower) }}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
{%- endmacro %}
