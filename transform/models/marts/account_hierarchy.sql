-- The account hierarchy from Accounts' "Member Of" field (parent_account_id): every account
-- with its top-level account, its depth (0 at the top) and its path from the top. An account
-- whose parent is not a live account counts as a top; accounts in a cycle are left out.
with recursive accounts as (
    select id, accountname, parent_account_id from {{ ref('accounts') }}
),

tree (account_id, account_name, parent_account_id, top_account_id, depth, path) as (
    select id, accountname, parent_account_id, id, 0, cast(accountname as text)
    from accounts
    where parent_account_id is null
        or parent_account_id not in (select id from accounts)
    union all
    select
        child.id, child.accountname, child.parent_account_id, tree.top_account_id,
        tree.depth + 1, cast(tree.path || ' > ' || child.accountname as text)
    from accounts as child
    join tree on child.parent_account_id = tree.account_id
    where tree.depth < 50
)

select account_id, account_name, parent_account_id, top_account_id, depth, path
from tree
