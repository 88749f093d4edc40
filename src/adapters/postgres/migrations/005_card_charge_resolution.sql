-- Charges left pending are resolved by asking Stripe, never by charging again (SPEC §5
-- "No money stuck half way"; src/recharge/charges.ts has the rules).

-- The customer and card the charge was first sent with: a re-send uses them again (Stripe
-- refuses an idempotency key reused with other parameters), and a lookup lists that
-- customer's PaymentIntents.
alter table card_charges add column customer_id text;
alter table card_charges add column payment_method_id text;
-- How many PaymentIntent creates were sent, and when the last one was. A create is sent
-- only by whoever moves stripe_requests on from the count it read, so two processes never
-- send one at once; 0 means Stripe never heard of this charge.
alter table card_charges add column stripe_requests integer not null default 0;
alter table card_charges add column stripe_sent_at timestamptz;

-- Rows left pending by the code before this migration may have reached Stripe: count them
-- as sent, so they are resolved by asking Stripe like any other.
update card_charges set stripe_requests = greatest(attempts, 1), stripe_sent_at = updated_at
 where status = 'pending';

-- The resolver's sweep: pending rows, oldest lease first.
create index card_charges_pending on card_charges (updated_at) where status = 'pending';
