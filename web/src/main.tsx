import { render } from "preact";
import { App } from "./app";
import { loadConfig } from "./auth";
import { interceptLinks } from "./router";
import "./styles.css";

const root = document.getElementById("app") as HTMLElement;
interceptLinks(root);
loadConfig().then((config) => render(<App config={config} />, root));
