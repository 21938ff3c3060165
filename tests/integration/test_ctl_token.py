"""`anxinctl token` against a real PostgreSQL: create prints a well-formed
token once and stores only its SHA-256, duplicate names fail, list shows
neither token nor hash, revoke is idempotent, --expires sets the expiry,
bad arguments are usage errors.

Needs PostgreSQL on ANXIN_PG_PORT (scripts/services.sh pg-start) and
anxinctl in ANXIN_BUILD.
"""
import base64
import hashlib
import re
import subprocess
import unittest

from harness import SQL_DIR, anxinctl_path, ctl, dsn, fresh_db, psql

TOKEN_RE = re.compile(r"^axn_[A-Za-z0-9_-]{43}$")


class TokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = fresh_db("tok")

    def create(self, name, role="operator", *extra):
        r = ctl(self.db, "token", "create", "--role", role, "--name", name, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        token = r.stdout.strip()
        self.assertEqual(r.stdout, token + "\n", "only the token on stdout")
        return token, r

    def row(self, name, cols):
        rows = psql(self.db, "SELECT %s FROM api_tokens WHERE name = '%s'" % (cols, name))
        self.assertEqual(len(rows), 1, "one row named %s" % name)
        return rows[0]

    def count(self, name):
        return int(psql(self.db, "SELECT count(*) FROM api_tokens WHERE name = '%s'"
                        % name)[0][0])

    def test_create_prints_token_and_stores_only_its_hash(self):
        token, r = self.create("dispatch-desk")
        self.assertRegex(token, TOKEN_RE)
        # 43 base64url characters are exactly 32 random bytes.
        self.assertEqual(len(base64.urlsafe_b64decode(token[4:] + "=")), 32)
        self.assertIn("cannot be shown again", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertNotIn(token, r.stderr)
        self.assertNotIn(token[4:], r.stderr)

        want = hashlib.sha256(token.encode("ascii")).hexdigest()
        role, hexhash, expires, revoked, used = self.row(
            "dispatch-desk", "role, encode(token_sha256, 'hex'), coalesce(expires_at::text, ''),"
            " coalesce(revoked_at::text, ''), coalesce(last_used_at::text, '')")
        self.assertEqual(role, "operator")
        self.assertEqual(hexhash, want)
        self.assertEqual((expires, revoked, used), ("", "", ""))
        self.assertNotIn(hexhash, r.stderr)

        # The token itself is nowhere in the table, in any encoding.
        dump = "\n".join("\t".join(x) for x in psql(
            self.db, "SELECT t::text, encode(t.token_sha256, 'escape') FROM api_tokens t"))
        raw = base64.urlsafe_b64decode(token[4:] + "=")
        self.assertNotIn(token, dump)
        self.assertNotIn(token[4:], dump)
        self.assertNotIn(raw.hex(), dump)
        self.assertNotIn(hashlib.sha256(raw).hexdigest(), dump)

    def test_every_role_and_tokens_differ(self):
        seen = set()
        for role in ("viewer", "operator", "admin"):
            token, _ = self.create("role-" + role, role)
            self.assertRegex(token, TOKEN_RE)
            seen.add(token)
            self.assertEqual(self.row("role-" + role, "role::text")[0], role)
        self.assertEqual(len(seen), 3)
        hashes = psql(self.db, "SELECT count(DISTINCT token_sha256) FROM api_tokens"
                               " WHERE name LIKE 'role-%'")
        self.assertEqual(hashes[0][0], "3")

    def test_duplicate_name_fails(self):
        token, _ = self.create("twice")
        before = self.row("twice", "encode(token_sha256, 'hex'), role")
        r = ctl(self.db, "token", "create", "--role", "admin", "--name", "twice")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "", "no token printed for a refused create")
        self.assertIn('"twice" already exists', r.stderr)
        self.assertEqual(self.count("twice"), 1)
        self.assertEqual(self.row("twice", "encode(token_sha256, 'hex'), role"), before)
        # A revoked token keeps its name.
        ctl(self.db, "token", "revoke", "twice")
        r = ctl(self.db, "token", "create", "--role", "admin", "--name", "twice")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("already exists", r.stderr)

    def test_list_shows_tokens_without_secrets(self):
        token, _ = self.create("listed", "viewer", "--expires", "7d")
        hexhash = hashlib.sha256(token.encode()).hexdigest()
        # One expired token, put in directly.
        psql(self.db, "INSERT INTO api_tokens (name, role, token_sha256, expires_at)"
                      " VALUES ('old-one', 'admin', sha256('x'::bytea),"
                      " now() - interval '1 day')")
        r = ctl(self.db, "token", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        for col in ("NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED", "LAST USED"):
            self.assertIn(col, lines[0])
        listed = [ln for ln in lines if ln.split()[:1] == ["listed"]]
        self.assertEqual(len(listed), 1, r.stdout)
        self.assertIn("viewer", listed[0])
        self.assertIn("active", listed[0])
        old = [ln for ln in lines if ln.split()[:1] == ["old-one"]]
        self.assertEqual(len(old), 1, r.stdout)
        self.assertIn("expired", old[0])
        out = r.stdout + r.stderr
        self.assertNotIn(token, out)
        self.assertNotIn(token[4:], out)
        self.assertNotIn(hexhash, out)
        self.assertNotIn(hexhash[:16], out)
        self.assertNotIn("axn_", out)
        self.assertNotIn("\\x", out)

    def test_revoke_sets_revoked_at_once(self):
        self.create("to-revoke")
        r = ctl(self.db, "token", "revoke", "to-revoke")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("revoked", r.stdout)
        first = self.row("to-revoke", "revoked_at::text")[0]
        self.assertNotEqual(first, "")
        # Idempotent: a second revoke succeeds and keeps the first time.
        r = ctl(self.db, "token", "revoke", "to-revoke")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("already revoked", r.stdout)
        self.assertEqual(self.row("to-revoke", "revoked_at::text")[0], first)
        r = ctl(self.db, "token", "list")
        line = [ln for ln in r.stdout.splitlines() if ln.split()[:1] == ["to-revoke"]]
        self.assertIn("revoked", line[0])
        # Other tokens are untouched.
        self.create("bystander")
        ctl(self.db, "token", "revoke", "to-revoke")
        self.assertEqual(self.row("bystander", "revoked_at IS NULL")[0], "t")

    def test_revoke_unknown_name(self):
        r = ctl(self.db, "token", "revoke", "no-such-token")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no token named "no-such-token"', r.stderr)
        r = ctl(self.db, "token", "revoke")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)

    def test_expires(self):
        for name, arg, seconds in (("exp-30d", "30d", 30 * 86400), ("exp-12h", "12h", 43200),
                                   ("exp-mixed", "1d6h", 30 * 3600)):
            self.create(name, "viewer", "--expires", arg)
            ahead, span = self.row(
                name, "extract(epoch FROM expires_at - now()),"
                      " extract(epoch FROM expires_at - created_at)")
            self.assertAlmostEqual(float(span), seconds, delta=1)
            self.assertLessEqual(float(ahead), seconds)
            self.assertGreater(float(ahead), seconds - 120)

    def test_bad_expires(self):
        for bad in ("30", "soon", "0s", "-1d", "30x", ""):
            r = ctl(self.db, "token", "create", "--role", "viewer", "--name", "exp-bad",
                    "--expires", bad)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertIn("--expires", r.stderr)
            self.assertEqual(r.stdout, "")
        self.assertEqual(self.count("exp-bad"), 0)

    def test_bad_role(self):
        for bad in ("root", "Admin", "", "viewer,admin"):
            r = ctl(self.db, "token", "create", "--role", bad, "--name", "bad-role")
            self.assertIn(r.returncode, (1, 2), r.stderr)
            self.assertIn("viewer, operator, admin", r.stderr)
            self.assertEqual(r.stdout, "")
        self.assertEqual(self.count("bad-role"), 0)

    def test_usage_errors(self):
        for args in (("create", "--name", "no-role"), ("create", "--role", "viewer"),
                     ("create", "--role", "viewer", "--name", "x", "extra"),
                     ("create", "--role", "viewer", "--name", ""),
                     ("create", "--role", "viewer", "--name", "n" * 65),
                     ("create", "--role", "viewer", "--name", "tab\there"),
                     ("list", "extra"), ("frobnicate",), ()):
            r = ctl(self.db, "token", *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertEqual(r.stdout, "", args)
        self.assertEqual(self.count("no-role"), 0)
        # 64 characters (not bytes) is the longest name.
        self.create("名" * 64, "viewer")
        self.assertEqual(self.count("名" * 64), 1)

    def test_unwritable_stdout_creates_nothing(self):
        cmd = [anxinctl_path(), "--db", dsn(self.db), "--sql-dir", SQL_DIR, "token", "create",
               "--role", "admin", "--name", "unseen"]
        with open("/dev/full", "w") as full:
            r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nothing was created", r.stderr)
        self.assertEqual(self.count("unseen"), 0)

    def test_unreachable_database(self):
        cmd = [anxinctl_path(), "--db", "host=127.0.0.1 port=1 user=postgres dbname=x "
               "connect_timeout=2", "--sql-dir", SQL_DIR, "token", "create", "--role",
               "viewer", "--name", "nowhere"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot connect", r.stderr)
        self.assertEqual(r.stdout, "", "no token without a stored hash")


if __name__ == "__main__":
    unittest.main()
