-- The deal pipeline by stage and month: deals, amount, and the month's win rate (deals won
-- among those closed, won or lost). A deal's month is its expected close date's month (its
-- creation date's when it has none).
with deals as (
    select
        sales_stage,
        amount,
        cast(date_trunc('month', coalesce(closingdate, cast(createdtime as date))) as date) as month
    from {{ ref('potentials') }}
),

by_stage as (
    select month, sales_stage, count(*) as deals, sum(amount) as amount
    from deals
    group by month, sales_stage
),

by_month as (
    select
        month,
        sum(case when sales_stage = 'Closed Won' then 1 else 0 end) as won_deals,
        sum(case when sales_stage = 'Closed Lost' then 1 else 0 end) as lost_deals
    from deals
    group by month
)

select
    by_stage.month,
    by_stage.sales_stage,
    by_stage.deals,
    by_stage.amount,
    by_month.won_deals,
    by_month.lost_deals,
    case when by_month.won_deals + by_month.lost_deals > 0
        then cast(by_month.won_deals as {{ vtiger_type_numeric() }})
            / (by_month.won_deals + by_month.lost_deals)
    end as win_rate
from by_stage
join by_month on by_stage.month = by_month.month
