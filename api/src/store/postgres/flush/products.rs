//! The batch's products, written before everything else in statements of their own: their
//! order matters (a SKU one job freed and another took in the same batch), which one
//! statement would not keep.

use sqlx::PgConnection;

use crate::store::postgres::unit::Unit;

/// Products: deletes first, then renames, then inserts, so a SKU one job freed and another
/// took in the same batch is free when it is taken (`products_sku_unique` is checked row by
/// row); renamed rows pass through a placeholder SKU (66 characters with their id, longer than
/// any SKU the API accepts, so never one in use), so renames that swap SKUs succeed too.
pub(super) async fn write_products(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    delete_products(conn, unit).await?;
    let renamed: Vec<&str> = unit
        .products
        .entries()
        .filter(|e| e.changed)
        .map(|e| e.row.id.as_str())
        .collect();
    if !renamed.is_empty() {
        sqlx::query(
            "UPDATE products SET sku = 'renaming:' || id::text || ':' || repeat('-', 20) \
             WHERE id = ANY($1::uuid[])",
        )
        .bind(&renamed)
        .execute(&mut *conn)
        .await?;
    }
    for new in [false, true] {
        let rows: Vec<_> = unit
            .products
            .entries()
            .filter(|e| if new { e.new } else { e.changed })
            .map(|e| &e.row)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let statement = if new {
            "INSERT INTO products (id, sku, name, description, category, price_cents, \
                                   created_at, updated_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::bigint[], $7::timestamptz[], $8::timestamptz[])"
        } else {
            "UPDATE products AS p SET sku = u.sku, name = u.name, description = u.description, \
                    category = u.category, price_cents = u.price_cents, \
                    updated_at = u.updated_at \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::bigint[], $7::timestamptz[], $8::timestamptz[]) \
                  AS u (id, sku, name, description, category, price_cents, created_at, \
                        updated_at) \
             WHERE p.id = u.id"
        };
        sqlx::query(statement)
            .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.description.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.category.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.price_cents).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.created_at.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.updated_at.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn delete_products(conn: &mut PgConnection, unit: &Unit) -> sqlx::Result<()> {
    let ids: Vec<&str> = unit.products.deleted().map(|e| e.row.id.as_str()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM products WHERE id = ANY($1::uuid[])")
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}
