-- Payment orders and the items each covers (R22, R23).

CREATE TABLE payment_orders (
  order_id      text PRIMARY KEY CHECK (order_id <> ''),
  candidate_id  text NOT NULL REFERENCES roster,
  amount        numeric(10, 2) NOT NULL CHECK (amount >= 0),
  method        text NOT NULL CHECK (method IN ('ALIPAY', 'BANK')),
  status        text NOT NULL CHECK (status IN ('PENDING', 'PAID', 'LATE_REFUND')),
  created_at    timestamptz NOT NULL,
  paid_at       timestamptz,
  provider_tx   text CHECK (provider_tx <> ''),
  CONSTRAINT payment_orders_confirmation_check CHECK (
    (status = 'PENDING') = (paid_at IS NULL) AND (status = 'PENDING' OR provider_tx IS NOT NULL)),
  CONSTRAINT payment_orders_paid_after_created CHECK (paid_at >= created_at)
);
COMMENT ON TABLE payment_orders IS
  'Orders sent to a payment provider (R23): PENDING until the provider confirms; PAID, or LATE_REFUND when the confirmation came after its items expired. One provider transaction confirms one order (payment_orders_provider_tx_key): a confirmation is applied exactly once.';
CREATE UNIQUE INDEX payment_orders_provider_tx_key ON payment_orders (method, provider_tx)
  WHERE provider_tx IS NOT NULL;
CREATE INDEX payment_orders_candidate_idx ON payment_orders (candidate_id);

CREATE TABLE payment_order_items (
  order_id  text NOT NULL REFERENCES payment_orders,
  item_id   text NOT NULL REFERENCES registration_items,
  fee       numeric(8, 2) NOT NULL CHECK (fee >= 0),
  -- NULL while the order is pending; LATE_REFUND for an item that expired before the confirmation.
  outcome   text CHECK (outcome IN ('PAID', 'LATE_REFUND')),
  PRIMARY KEY (order_id, item_id)
);
COMMENT ON TABLE payment_order_items IS
  'The items an order covers, with what the confirmation did to each (R23: expired items are not revived but recorded for refund). An item is paid by at most one order (payment_order_items_paid_key).';
CREATE UNIQUE INDEX payment_order_items_paid_key ON payment_order_items (item_id) WHERE outcome = 'PAID';
CREATE INDEX payment_order_items_item_idx ON payment_order_items (item_id);
