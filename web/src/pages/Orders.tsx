import { api } from "../api/client";
import { unwrap } from "../api/errors";
import { isOwner, type Session } from "../auth";
import { ErrorNote, Loading, statusLabel, Title } from "../components";
import { useLoad } from "../load";
import { formatMoney } from "../money";

export function OrdersPage({ session }: { session: Session | null }) {
  // The owner's token has orders.admin: the same call answers every customer's orders.
  const owner = isOwner(session);
  const list = useLoad(
    (signal) => unwrap(api.GET("/v1/orders", { params: { query: { page_size: 50 } }, signal })),
    [],
  );
  const orders = list.data?.orders ?? [];
  return (
    <section>
      <Title>{owner ? "All orders" : "Your orders"}</Title>
      {list.loading && !list.data ? <Loading /> : null}
      <ErrorNote error={list.error} retry={list.reload} />
      {list.data && orders.length === 0 ? <p>No orders yet.</p> : null}
      {orders.length ? (
        <table class="orders">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Placed</th>
              <th scope="col">Status</th>
              <th scope="col">Total</th>
            </tr>
          </thead>
          <tbody>
            {orders.map((order) => (
              <tr key={order.name}>
                <th scope="row">
                  <a href={`/${order.name}`}>{order.name?.replace(/^orders\//, "")}</a>
                </th>
                <td>{order.createTime ? new Date(order.createTime).toLocaleString() : ""}</td>
                <td>{statusLabel(order.status)}</td>
                <td>{formatMoney(order.total)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
