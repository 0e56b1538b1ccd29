// PostgreSQL's JDBC driver (pgJDBC, Debian's libpostgresql-jdbc-java) against oxbow's SQL endpoint,
// the way a Java application or a BI tool uses it: plain statements, prepared statements run past
// the driver's prepareThreshold (after which it prepares them server-side, as named statements,
// and reads int and float results in binary), typed parameters (setInt, setLong, setString),
// timestamps, a transaction with autocommit off, a read-only connection, and SQLSTATEs on errors.
//
// Usage: java -cp postgresql.jar:. JdbcSql PORT TABLE
// Prints one tab-separated line per answer; the Python test (test_lake_sql.py) checks the values
// against the records it produced. Exits non-zero on any unexpected exception.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class JdbcSql {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/oxbow";
        String table = "\"" + args[1] + "\"";
        Properties props = new Properties();
        props.setProperty("user", "analyst");
        props.setProperty("ApplicationName", "oxbow-jdbc-test");
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            System.out.println("product\t" + conn.getMetaData().getDatabaseProductName());

            try (Statement s = conn.createStatement();
                 ResultSet r = s.executeQuery("SELECT count(*) AS n, sum(qty) AS q FROM " + table)) {
                r.next();
                System.out.println("count\t" + r.getLong("n") + "\t" + r.getLong("q"));
            }

            try (Statement s = conn.createStatement();
                 ResultSet r = s.executeQuery("SELECT symbol, count(*) AS n, sum(price) AS p FROM " + table
                         + " GROUP BY symbol ORDER BY symbol")) {
                while (r.next()) {
                    System.out.println("group\t" + r.getString(1) + "\t" + r.getLong(2) + "\t" + r.getDouble(3));
                }
            }

            // Eight executions: from the fifth on (prepareThreshold) the driver names the statement
            // on the server and asks for binary results.
            try (PreparedStatement p = conn.prepareStatement(
                    "SELECT count(*) AS n FROM " + table + " WHERE qty > ? AND symbol = ?")) {
                for (int qty = 0; qty < 8; qty++) {
                    p.setInt(1, qty);
                    p.setString(2, "BBB");
                    try (ResultSet r = p.executeQuery()) {
                        r.next();
                        System.out.println("prepared\t" + qty + "\t" + r.getLong(1));
                    }
                }
            }

            try (PreparedStatement p = conn.prepareStatement(
                    "SELECT id, symbol, price, _partition, _offset, _timestamp FROM " + table + " WHERE id = ?")) {
                for (long id : new long[] {0, 7, 1499, 8, 9, 10}) {
                    p.setLong(1, id);
                    try (ResultSet r = p.executeQuery()) {
                        if (id == 0) {
                            ResultSetMetaData md = r.getMetaData();
                            StringBuilder types = new StringBuilder("types");
                            for (int i = 1; i <= md.getColumnCount(); i++) {
                                types.append('\t').append(md.getColumnLabel(i)).append('=').append(md.getColumnTypeName(i));
                            }
                            System.out.println(types);
                        }
                        while (r.next()) {
                            System.out.println("row\t" + r.getLong(1) + "\t" + r.getString(2) + "\t" + r.getDouble(3)
                                    + "\t" + r.getInt(4) + "\t" + r.getLong(5) + "\t" + r.getTimestamp(6).getTime());
                        }
                    }
                }
            }

            try (Statement s = conn.createStatement();
                 ResultSet r = s.executeQuery(
                         "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")) {
                while (r.next()) {
                    System.out.println("table\t" + r.getString(1));
                }
            }

            sqlState(conn, "missing", "SELECT * FROM no_such_table");
            sqlState(conn, "insert", "INSERT INTO " + table + " (id) VALUES (1)");
            sqlState(conn, "syntax", "SELEC 1");

            // As JDBC applications run reports: autocommit off (the driver sends BEGIN before the
            // first query), then commit.
            conn.setAutoCommit(false);
            try (Statement s = conn.createStatement();
                 ResultSet r = s.executeQuery("SELECT count(*) FROM " + table)) {
                r.next();
                System.out.println("transaction\t" + r.getLong(1));
            }
            conn.commit();
            conn.setAutoCommit(true);
        }

        // A read-only connection, as BI tools open them (the driver sends SET SESSION
        // CHARACTERISTICS AS TRANSACTION READ ONLY).
        props.setProperty("readOnly", "true");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setReadOnly(true);
            try (Statement s = conn.createStatement();
                 ResultSet r = s.executeQuery("SELECT count(*) FROM " + table)) {
                r.next();
                System.out.println("readonly\t" + r.getLong(1));
            }
        }
    }

    private static void sqlState(Connection conn, String what, String sql) throws SQLException {
        try (Statement s = conn.createStatement()) {
            s.executeQuery(sql).close();
            System.out.println("error\t" + what + "\tnone");
        } catch (SQLException e) {
            System.out.println("error\t" + what + "\t" + e.getSQLState());
        }
        // The connection keeps serving after the error.
        try (Statement s = conn.createStatement(); ResultSet r = s.executeQuery("SELECT 1")) {
            r.next();
            if (r.getInt(1) != 1) {
                throw new SQLException("SELECT 1 after " + what + " answered " + r.getInt(1));
            }
        }
    }
}
