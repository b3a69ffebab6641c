{#- dbt's `relationships`, for Vtiger references: every key in `column_name` is the id of a
    record of `to`, or of a record deleted in Vtiger (deleted_records). Vtiger keeps a
    reference to a record after deleting the record, so such keys are expected; any other key
    points at nothing the warehouse ever saw. -#}
{% test reference_resolves(model, column_name, to) %}
select {{ column_name }} as unresolved
from {{ model }}
where {{ column_name }} is not null
    and {{ column_name }} not in (select id from {{ to }} where id is not null)
    and {{ column_name }} not in (select id from {{ ref('deleted_records') }} where id is not null)
{% endtest %}
