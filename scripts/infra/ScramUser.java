import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

/**
 * Gives a user a password for SCRAM-SHA-256 and SCRAM-SHA-512 on a running broker (idempotent): the
 * local broker's TLS + SASL listener takes both besides SASL/PLAIN. Run as a single-file program by scripts/infra/kafka.mjs:
 * java -cp '<kafka libs>/*' ScramUser.java host:port user password
 */
public class ScramUser {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
    try (Admin admin = Admin.create(props)) {
      // One request per mechanism: the broker refuses a request that alters a user twice.
      for (ScramMechanism mechanism : List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)) {
        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], new ScramCredentialInfo(mechanism, 4096), args[2]))).all().get();
      }
    }
  }
}
