import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A token has an owner (the account whose authority created it; disabling the account revokes
    -- it), may expire, and the one printed at first start dies once a console admin exists.
    ALTER TABLE api_tokens
      ADD COLUMN owner_account_id bigint REFERENCES accounts ON DELETE SET NULL,
      ADD COLUMN created_by text NOT NULL DEFAULT 'unknown',
      ADD COLUMN expires_at timestamptz,
      ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;
    UPDATE api_tokens SET bootstrap = true, created_by = 'first start' WHERE name = 'bootstrap-admin';
    CREATE INDEX api_tokens_owner ON api_tokens (owner_account_id) WHERE revoked_at IS NULL;

    -- A second factor (TOTP, RFC 6238). The secret is confirmed with a first code before it counts;
    -- totp_last_step makes each code work once.
    ALTER TABLE accounts
      ADD COLUMN totp_secret text,
      ADD COLUMN totp_pending_secret text,
      ADD COLUMN totp_enabled_at timestamptz,
      ADD COLUMN totp_last_step bigint,
      ADD COLUMN password_changed_at timestamptz;

    -- Single-use codes for a lost authenticator; only a SHA-256 of each is kept (they are random, 80 bits).
    CREATE TABLE recovery_codes (
      account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
      code_hash text NOT NULL,
      used_at timestamptz,
      PRIMARY KEY (account_id, code_hash)
    );

    -- A session starts 'active', or, when the password was right but a second factor is still
    -- owed, as a short-lived 'second-factor' or 'enrol' sign-in that opens nothing else.
    ALTER TABLE sessions
      ADD COLUMN stage text NOT NULL DEFAULT 'active' CHECK (stage IN ('second-factor', 'enrol', 'active'));

    -- Emailed password-reset links: single use, short-lived, only a hash of the token kept.
    CREATE TABLE password_resets (
      token_hash text PRIMARY KEY,
      account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    );
    CREATE INDEX password_resets_account ON password_resets (account_id);

    -- Counters for throttles that must hold across processes and without Redis (sign-in
    -- attempts, test sends, confirmation emails): a window opens at a key's first hit.
    CREATE TABLE rate_counters (
      key text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      hits integer NOT NULL
    );
    CREATE INDEX rate_counters_window ON rate_counters (window_start);

    -- Files are streamed out in slices; uncompressed out-of-line storage lets PostgreSQL read a
    -- slice without decompressing the whole value (most files are compressed formats anyway).
    ALTER TABLE release_attachments ALTER COLUMN data SET STORAGE EXTERNAL;
  `.execute(db);
}
