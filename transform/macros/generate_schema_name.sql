{#- Models land in the schema their folder names (staging, marts), as is: staging.contacts,
    marts.deal_pipeline, in DuckDB and PostgreSQL alike. Without a folder schema: the
    profile's schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

{#- Hours from `start` to `finish` (date-times). -#}
{% macro vtiger_hours_between(start, finish) -%}
  {{ return(adapter.dispatch('vtiger_hours_between', 'vtiger')(start, finish)) }}
{%- endmacro %}
{% macro default__vtiger_hours_between(start, finish) -%}
  (extract(epoch from ({{ finish }}) - ({{ start }})) / 3600.0)
{%- endmacro %}
{% macro duckdb__vtiger_hours_between(start, finish) -%}
  ((epoch({{ finish }}) - epoch({{ start }})) / 3600.0)
{%- endmacro %}
