//! Bounds on how deep and how costly a statement can be, checked on its tokens before anything
//! parses it. A statement's planning runs on the broker's CPU and cannot be interrupted.
//!
//! sqlparser limits nesting by parentheses and subqueries (50 levels), but parses a chain of
//! operators (`1+1+1…`, `a OR b OR c…`, `x::int::int…`, `… UNION … UNION …`) in a loop into a tree
//! one level deeper per operator. Printing that tree, planning and optimising it (DataFusion)
//! and dropping it then recurse once per level: a 40 KB statement of 20,000 `+` overflowed the
//! SQL thread's stack, and a stack overflow aborts the whole broker. Planning such chains also
//! grows faster than their length (release build: 250 `+` planned in 3.7 s, 500 `UNION ALL` in
//! 2.7 s), and so does planning a chain of joins (32 in 0.7 s; 300 ran for minutes). So a
//! statement may hold at most [`MAX_OPERATORS`] operators and set operations and join at most
//! [`MAX_RELATIONS`] relations (by `JOIN` or by commas in `FROM`). Nesting (subqueries, calls
//! within calls) costs more than exponentially in DataFusion's planner (release build: 18
//! nested `abs(` in 3.3 s, 20 nested subqueries in 16.5 s, 45 ran for minutes), so parentheses
//! nest at most [`MAX_NESTING`] deep, and function calls count as operators. Lists (`IN (…)`,
//! select lists, `VALUES`) are flat and do not count.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Operators and set operations one statement may hold.
pub const MAX_OPERATORS: usize = 256;

/// Relations one statement may join, besides its first (`JOIN`s and commas in `FROM` lists).
pub const MAX_RELATIONS: usize = 32;

/// How deep parentheses (subqueries, calls, groups) may nest: 14 nested calls or subqueries
/// planned in at most 0.8 s (release build), 12 in 0.15 s.
pub const MAX_NESTING: usize = 14;

/// `Err(message)` if a statement of `sql` goes past [`MAX_OPERATORS`], [`MAX_RELATIONS`] or
/// [`MAX_NESTING`]; text the tokenizer rejects is left to the parser, which names the error.
pub fn check(sql: &str) -> Result<(), String> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let (mut operators, mut relations) = (0usize, 0usize);
    // Parenthesis depth, and the depths whose FROM list is being read.
    let mut depth = 0usize;
    let mut from_at: Vec<usize> = Vec::new();
    let mut previous: Option<&Token> = None;
    for token in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
        // A call (or EXISTS, ANY, a CAST): a name right before its parenthesis.
        let call = *token == Token::LParen
            && matches!(previous, Some(Token::Word(w)) if !matches!(w.keyword, Keyword::IN | Keyword::VALUES));
        previous = Some(token);
        match token {
            Token::SemiColon => {
                (operators, relations, depth) = (0, 0, 0);
                from_at.clear();
            }
            Token::LParen => {
                depth += 1;
                if depth > MAX_NESTING {
                    return too_complex(format!(
                        "parentheses (subqueries, function calls) nest more than {MAX_NESTING} deep"
                    ));
                }
            }
            Token::RParen => {
                depth = depth.saturating_sub(1);
                from_at.retain(|&d| d <= depth);
            }
            Token::Comma if from_at.last() == Some(&depth) => relations += 1,
            Token::Word(w) if w.keyword == Keyword::FROM => from_at.push(depth),
            Token::Word(w) if ends_from(w.keyword) => from_at.retain(|&d| d < depth),
            _ => {}
        }
        if nests(token) || call {
            operators += 1;
        }
        if matches!(token, Token::Word(w) if w.keyword == Keyword::JOIN) {
            relations += 1;
        }
        if operators > MAX_OPERATORS {
            return too_complex(format!(
                "more than {MAX_OPERATORS} operators, function calls or set operations in one \
                 statement; write long lists of alternatives as IN (...)"
            ));
        }
        if relations > MAX_RELATIONS {
            return too_complex(format!("it joins more than {MAX_RELATIONS} relations"));
        }
    }
    Ok(())
}

fn too_complex(why: String) -> Result<(), String> {
    Err(format!("statement too complex: {why}"))
}

/// Keywords after which a `FROM` list's commas no longer separate relations. A join's `ON` or
/// `USING` is not one: `FROM a JOIN b ON …, c` goes on listing relations.
fn ends_from(keyword: Keyword) -> bool {
    matches!(
        keyword,
        Keyword::WHERE
            | Keyword::GROUP
            | Keyword::HAVING
            | Keyword::WINDOW
            | Keyword::QUALIFY
            | Keyword::ORDER
            | Keyword::LIMIT
            | Keyword::OFFSET
            | Keyword::FETCH
            | Keyword::UNION
            | Keyword::INTERSECT
            | Keyword::EXCEPT
    )
}

/// Whether `token` can nest what follows it one level deeper: operators and the keywords that
/// combine expressions, relations or queries. Names, literals and punctuation do not.
fn nests(token: &Token) -> bool {
    match token {
        Token::Word(w) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::IN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::JOIN
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
        ),
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::Comma
        | Token::Whitespace(_)
        | Token::LParen
        | Token::RParen
        | Token::Period
        | Token::Colon
        | Token::SemiColon
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace
        | Token::Placeholder(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(op: &str, n: usize) -> String {
        format!("SELECT {} FROM t", vec!["a"; n].join(op))
    }

    #[test]
    fn given_long_operator_chains_should_refuse_them_and_admit_flat_lists() {
        // (operator, how many it counts): n + 1 names joined by n operators.
        for (op, weight) in [
            ("+", 1),
            (" OR ", 1),
            (" AND ", 1),
            ("::int::", 2),
            ("||", 1),
            (" -> ", 1),
        ] {
            let most = MAX_OPERATORS / weight;
            assert!(check(&chain(op, most + 1)).is_ok(), "{op}");
            assert!(check(&chain(op, most + 2)).is_err(), "{op}");
        }
        let unions = vec!["SELECT 1"; MAX_OPERATORS + 2].join(" UNION ALL ");
        assert!(check(&unions).is_err());
        // Flat lists, strings and names do not count, however long.
        let ids = (0..50_000).map(|i| i.to_string()).collect::<Vec<_>>();
        assert!(check(&format!("SELECT * FROM t WHERE id IN ({})", ids.join(","))).is_ok());
        let words = vec!["'+ OR AND'"; 5000].join(", ");
        assert!(check(&format!("SELECT {words}")).is_ok());
        // The count is per statement.
        let two = format!("{}; {}", chain("+", 200), chain("+", 200));
        assert!(check(&two).is_ok());
        // Text the tokenizer rejects is the parser's to name.
        assert!(check("SELECT 'unterminated").is_ok());
    }

    #[test]
    fn given_deep_nesting_or_many_calls_should_refuse_them() {
        let nested = |n: usize| format!("SELECT {}x{} FROM t", "abs(".repeat(n), ")".repeat(n));
        assert!(check(&nested(MAX_NESTING)).is_ok());
        assert!(check(&nested(MAX_NESTING + 1)).is_err());
        let subqueries = |n: usize| format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n));
        assert!(check(&subqueries(MAX_NESTING)).is_ok());
        assert!(check(&subqueries(MAX_NESTING + 1)).is_err());
        // Calls count as operators: a wide tree of them is refused even when shallow.
        let calls = vec!["coalesce(a, b)"; MAX_OPERATORS + 1].join(", ");
        assert!(check(&format!("SELECT {calls} FROM t")).is_err());
        // An IN list and a VALUES list are not calls.
        let rows = vec!["(1, 'a')"; 1000].join(", ");
        assert!(check(&format!(
            "SELECT * FROM (VALUES {rows}) v WHERE column1 IN (1, 2)"
        ))
        .is_ok());
    }

    #[test]
    fn given_many_joined_relations_should_refuse_them_by_join_or_by_from_list() {
        let joins = |n: usize| {
            let on = (1..=n).map(|i| format!("JOIN t t{i} ON t{i}.id = t0.id"));
            format!("SELECT 1 FROM t t0 {}", on.collect::<Vec<_>>().join(" "))
        };
        assert!(check(&joins(MAX_RELATIONS)).is_ok());
        assert!(check(&joins(MAX_RELATIONS + 1)).is_err());
        let from = |n: usize| {
            let names = (0..=n).map(|i| format!("t t{i}")).collect::<Vec<_>>();
            format!(
                "SELECT a, b, c FROM {} WHERE x IN (1, 2, 3) ORDER BY a, b",
                names.join(", ")
            )
        };
        assert!(check(&from(MAX_RELATIONS)).is_ok());
        assert!(check(&from(MAX_RELATIONS + 1)).is_err());
        // A join's ON or USING does not end the FROM list: commas after it still add relations.
        for condition in ["ON a.id = b.id", "USING (id, day)"] {
            let rest = (0..MAX_RELATIONS)
                .map(|i| format!("t t{i}"))
                .collect::<Vec<_>>();
            let sql = format!(
                "SELECT 1 FROM a JOIN b {condition}, {} WHERE x = 1",
                rest.join(", ")
            );
            assert!(check(&sql).is_err(), "{condition}");
        }
        // Commas outside FROM lists (select lists, function arguments, subqueries' own lists
        // once closed, GROUP BY) are not relations.
        let cols = (0..100)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, (SELECT max(x) FROM u, v) FROM t WHERE substring(s FROM 1 FOR 2) IN ({cols}) GROUP BY {cols}"
        );
        assert!(check(&sql).is_ok());
    }
}
