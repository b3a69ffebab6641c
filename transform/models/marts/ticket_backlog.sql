-- The ticket backlog and resolution times by priority. Vtiger keeps no closing time, so a
-- closed ticket's resolution time is from its creation to its last modification.
with tickets as (
    select
        coalesce(ticketpriorities, '(none)') as priority,
        coalesce(ticketstatus, '') = 'Closed' as is_closed,
        {{ vtiger_hours_between('createdtime', 'modifiedtime') }} as hours_open
    from {{ ref('helpdesk') }}
)

select
    priority,
    count(*) as tickets,
    sum(case when is_closed then 0 else 1 end) as open_tickets,
    sum(case when is_closed then 1 else 0 end) as closed_tickets,
    avg(case when is_closed then hours_open end) as avg_resolution_hours,
    percentile_cont(0.5) within group (order by case when is_closed then hours_open end)
        as median_resolution_hours
from tickets
group by priority
