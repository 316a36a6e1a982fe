//! The command line of `xtask services`, parsed by hand: its usage text and its error for an
//! unknown name are those `scripts/services` has always printed, which callers and docs rely on.

/// The services, in the order "all of them" uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    Postgres,
    Redis,
    Kafka,
    Cassandra,
    Seaweedfs,
}

pub const ALL: [Name; 5] = [
    Name::Postgres,
    Name::Redis,
    Name::Kafka,
    Name::Cassandra,
    Name::Seaweedfs,
];
const NAMES: [&str; 5] = ["postgres", "redis", "kafka", "cassandra", "seaweedfs"];

impl Name {
    fn parse(text: &str) -> Option<Self> {
        NAMES.iter().position(|n| *n == text).map(|i| ALL[i])
    }

    pub fn as_str(self) -> &'static str {
        NAMES[self as usize]
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Install(Vec<Name>),
    Start(Vec<Name>),
    Stop(Vec<Name>),
    Restart(Vec<Name>),
    Status,
    Env,
    Down,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Command),
    /// Print the usage and exit with this code (0 when asked for, 1 for a bad command line).
    Usage(u8),
    Error(UnknownService),
}

/// A NAME that is not one of the services.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownService(String);

impl std::fmt::Display for UnknownService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown service '{}' (one of: {})",
            self.0,
            NAMES.join(" ")
        )
    }
}

impl std::error::Error for UnknownService {}

pub const USAGE: &str = "\
scripts/services (cargo xtask services): install and run the real servers that natter's
scale-out mode and its tests use (PostgreSQL, Redis, Apache Kafka, Apache Cassandra, SeaweedFS
for S3), each on 127.0.0.1 on a fixed non-default port, with everything (data, logs, pid files) under
${NATTER_SERVICES_DIR:-/tmp/natter-services}/<name>/. See docs/services.md.

  scripts/services install [NAME...]   apt packages / Maven jars / the SeaweedFS build; skips
                                       what is present
  scripts/services start   [NAME...]   install if needed, start, wait until ready
  scripts/services stop    [NAME...]   graceful stop, data kept
  scripts/services restart [NAME...]
  scripts/services status              one line per service
  scripts/services env                 export lines for the tests
  scripts/services down                stop everything and delete the services dir

NAME: postgres redis kafka cassandra seaweedfs (none = all five). Runs as root (as the machine and CI do).
";

/// `args` are what follows the binary's name: `services COMMAND [NAME...]`.
pub fn parse(args: &[String]) -> Parsed {
    let mut args = args.iter().map(String::as_str);
    match args.next() {
        Some("services") => {}
        Some("-h" | "--help" | "help") => return Parsed::Usage(0),
        _ => return Parsed::Usage(1),
    }
    let Some(command) = args.next() else {
        return Parsed::Usage(1);
    };
    let rest: Vec<&str> = args.collect();
    let names = || pick_names(&rest);
    let command = match command {
        "install" => names().map(Command::Install),
        "start" => names().map(Command::Start),
        "stop" => names().map(Command::Stop),
        "restart" => names().map(Command::Restart),
        "status" => Ok(Command::Status),
        "env" => Ok(Command::Env),
        "down" => Ok(Command::Down),
        "-h" | "--help" | "help" => return Parsed::Usage(0),
        _ => return Parsed::Usage(1),
    };
    match command {
        Ok(command) => Parsed::Run(command),
        Err(unknown) => Parsed::Error(unknown),
    }
}

/// The named services (checked), or all of them when none is named.
fn pick_names(args: &[&str]) -> Result<Vec<Name>, UnknownService> {
    if args.is_empty() {
        return Ok(ALL.to_vec());
    }
    args.iter()
        .map(|arg| Name::parse(arg).ok_or_else(|| UnknownService((*arg).to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Parsed {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    #[test]
    fn no_name_means_all_five_in_order() {
        assert_eq!(
            parse_line("services start"),
            Parsed::Run(Command::Start(ALL.to_vec()))
        );
    }

    #[test]
    fn names_keep_the_order_given() {
        assert_eq!(
            parse_line("services restart redis postgres"),
            Parsed::Run(Command::Restart(vec![Name::Redis, Name::Postgres]))
        );
        assert_eq!(
            parse_line("services stop cassandra"),
            Parsed::Run(Command::Stop(vec![Name::Cassandra]))
        );
    }

    #[test]
    fn an_unknown_name_is_an_error_that_lists_the_names() {
        let Parsed::Error(unknown) = parse_line("services start redis mysql") else {
            panic!("accepted");
        };
        assert_eq!(
            unknown.to_string(),
            "unknown service 'mysql' (one of: postgres redis kafka cassandra seaweedfs)"
        );
    }

    #[test]
    fn help_and_bad_commands_print_the_usage() {
        assert_eq!(parse_line("services --help"), Parsed::Usage(0));
        assert_eq!(parse_line("services help"), Parsed::Usage(0));
        assert_eq!(parse_line("services"), Parsed::Usage(1));
        assert_eq!(parse_line("services frobnicate"), Parsed::Usage(1));
        assert_eq!(parse_line("other"), Parsed::Usage(1));
    }

    #[test]
    fn every_name_reads_back() {
        for name in ALL {
            assert_eq!(Name::parse(name.as_str()), Some(name));
        }
    }

    #[test]
    fn commands_without_names_ignore_the_rest() {
        assert_eq!(parse_line("services status"), Parsed::Run(Command::Status));
        assert_eq!(parse_line("services env"), Parsed::Run(Command::Env));
        assert_eq!(parse_line("services down"), Parsed::Run(Command::Down));
    }
}
