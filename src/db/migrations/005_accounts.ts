import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE accounts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email text NOT NULL,
      email_key text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE,
      -- scrypt$N$r$p$salt$hash; never the password itself.
      password_hash text NOT NULL,
      role text NOT NULL CHECK (role IN ('editor', 'operator', 'admin')),
      created_at timestamptz NOT NULL DEFAULT now(),
      last_login_at timestamptz,
      disabled_at timestamptz
    );

    CREATE TABLE sessions (
      -- Only a SHA-256 of the cookie is kept, as for API tokens.
      token_hash text PRIMARY KEY,
      account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
      -- The synchronizer token every state-changing request of this session must echo.
      csrf_token text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX sessions_account ON sessions (account_id);
  `.execute(db);
}
