//! The gateway's command line: `gateway [serve]`, `gateway migrate`,
//! `gateway keys create --org NAME [--scopes read,write] [--name LABEL]`.

use crate::auth::Scopes;

pub const USAGE: &str = "\
usage:
  gateway [serve]                                   run the REST gateway and the intake consumer
  gateway migrate                                   apply the database migrations and exit
  gateway keys create --org NAME [--scopes read,write] [--name LABEL]
                                                    create an API key (and the organisation if needed);
                                                    the key is printed alone on the last line
  gateway help                                      this text

configuration comes from CONCORD_* environment variables (see README.md)";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
    CreateKey {
        organization: String,
        scopes: Scopes,
        name: String,
    },
    Help,
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["serve"] => Ok(Command::Serve),
        ["migrate"] => Ok(Command::Migrate),
        ["help"] | ["--help"] | ["-h"] => Ok(Command::Help),
        ["keys", "create", rest @ ..] => {
            let mut organization = None;
            let mut scopes = None;
            let mut name = None;
            let mut iter = rest.iter();
            while let Some(flag) = iter.next() {
                let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
                match *flag {
                    "--org" => organization = Some((*value).to_owned()),
                    "--scopes" => scopes = Some(Scopes::parse_list(value)?),
                    "--name" => name = Some((*value).to_owned()),
                    other => return Err(format!("unknown option {other}")),
                }
            }
            let organization = organization
                .filter(|o| !o.trim().is_empty())
                .ok_or("keys create needs --org NAME")?;
            let scopes = match scopes {
                Some(scopes) => scopes,
                None => Scopes::parse_list("read,write")?,
            };
            Ok(Command::CreateKey {
                name: name.unwrap_or_else(|| format!("{organization} key")),
                organization,
                scopes,
            })
        }
        _ => Err(format!("unknown command `{}`", words.join(" "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn keys_create_reads_its_options() {
        match parse(&args("keys create --org acme --scopes read,admin")) {
            Ok(Command::CreateKey {
                organization,
                scopes,
                ..
            }) => {
                assert_eq!(organization, "acme");
                assert!(scopes.contains(Scope::Admin) && !scopes.contains(Scope::Write));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert_eq!(parse(&args("")), Ok(Command::Serve));
        assert!(parse(&args("keys create")).is_err());
        assert!(parse(&args("keys create --org")).is_err());
        assert!(parse(&args("keys create --org a --scopes root")).is_err());
        assert!(parse(&args("launch")).is_err());
    }
}
