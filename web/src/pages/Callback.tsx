import { useEffect, useState } from "preact/hooks";
import { completeSignIn, type Session } from "../auth";
import { ErrorNote, Loading, Title } from "../components";
import { navigate } from "../router";

export function Callback({
  search,
  onSignedIn,
}: {
  search: string;
  onSignedIn: (s: Session | null) => void;
}) {
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    completeSignIn(search).then((next) => {
      onSignedIn(null);
      navigate(next, true);
    }, setError);
  }, [search, onSignedIn]);
  return (
    <section>
      <Title>Signing in</Title>
      {error ? (
        <>
          <ErrorNote error={error} />
          <a href="/">Back to the shop</a>
        </>
      ) : (
        <Loading />
      )}
    </section>
  );
}
