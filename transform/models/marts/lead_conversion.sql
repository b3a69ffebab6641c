-- Lead conversion by lead source. Vtiger's API no longer lists a lead once it is converted;
-- the contact it became carries isconvertedfromlead and the lead's source.
with open_leads as (
    select coalesce(leadsource, '(none)') as lead_source, count(*) as open_leads
    from {{ ref('leads') }}
    group by 1
),

converted as (
    select coalesce(leadsource, '(none)') as lead_source, count(*) as converted_leads
    from {{ ref('contacts') }}
    where isconvertedfromlead
    group by 1
)

select
    coalesce(open_leads.lead_source, converted.lead_source) as lead_source,
    coalesce(open_leads.open_leads, 0) as open_leads,
    coalesce(converted.converted_leads, 0) as converted_leads,
    cast(coalesce(converted.converted_leads, 0) as {{ vtiger_type_numeric() }})
        / (coalesce(open_leads.open_leads, 0) + coalesce(converted.converted_leads, 0))
        as conversion_rate
from open_leads
full outer join converted on open_leads.lead_source = converted.lead_source
